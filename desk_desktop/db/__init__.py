"""Database layer: models, sessions/unit of work, the private cluster, LISTEN/NOTIFY."""
