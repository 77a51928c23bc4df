"""CLI subcommands, one module per area (registered in desk_desktop.cli.COMMAND_MODULES)."""
