"""What operators and sensors share that is not an operator: argument parsing, the connection
arguments and hook factory, and waiting on a job."""
