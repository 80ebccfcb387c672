"""The file daemon: serves directors, reads and writes this machine's files."""
