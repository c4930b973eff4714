"""Reinforcement learning: exploration policies, tabular Q-learning and a DQN agent."""
