"""The `scarce` command: parse, call the API, print."""
