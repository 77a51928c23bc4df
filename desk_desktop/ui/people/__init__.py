"""The organization's people and places: technicians, customers and their sites, and CSV import."""
