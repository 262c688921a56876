"""The SQLite storage layer of ``catalogue.sqlite``: connections, migrations, the catalogue, stored profiles."""
