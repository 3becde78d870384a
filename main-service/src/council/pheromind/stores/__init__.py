"""Pheromone store implementations behind `PheromoneStore`."""
