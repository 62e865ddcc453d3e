"""An emulated Snowflake account for tests: see README.md."""

from emulator.account import EmulatedAccount, emulated_account

__all__ = ["EmulatedAccount", "emulated_account"]
