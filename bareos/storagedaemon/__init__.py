"""The storage daemon: writes and reads volumes on its devices."""
