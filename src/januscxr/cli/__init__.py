"""The ``januscxr`` command line: parses arguments and calls the library."""
