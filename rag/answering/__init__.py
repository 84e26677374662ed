"""Grounded answers: prompts, the assistant, evidence focusing, declining, claim
verification, and the answer benchmark."""
