"""The read model behind the data service APIs: a serving snapshot for point look-ups, and the timeline."""
