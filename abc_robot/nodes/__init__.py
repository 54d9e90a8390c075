"""The processes of the graph. Each module is imported only by its own process."""
