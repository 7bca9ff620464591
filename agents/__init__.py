"""Behaviour: Mesa agents of the partnership and the pure rules they follow."""
