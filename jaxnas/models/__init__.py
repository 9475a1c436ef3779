"""Flax cell networks: weight-sharing supernets that run only the sampled ops."""
