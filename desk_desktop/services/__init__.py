"""Use cases. Each public function runs one unit of work and returns plain frozen data."""
