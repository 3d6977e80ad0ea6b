"""The `squall` command line: thin click commands over pure functions in the rest of the package."""
