"""The persistence room: named queries, one function each."""
