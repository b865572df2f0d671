"""The analyst's workbench: the explorer widgets, what-if and saving overrides."""
