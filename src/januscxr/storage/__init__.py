"""The reading room's database: tables, repository functions and shipped migrations."""
