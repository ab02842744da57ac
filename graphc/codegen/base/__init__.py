"""What every compiled backend shares: the program behind a native entry point and its
pointer table (`executable.py`), and the backend that compiles programs and caches them
per feed shapes, one for every batch size (`backend.py`)."""
