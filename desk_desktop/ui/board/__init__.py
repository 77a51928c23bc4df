"""The schedule board: every technician's day on one time line."""
