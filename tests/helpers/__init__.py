"""Code shared by tests: fixtures' building blocks, synthetic scenes and files, models that misbehave on purpose.

Test modules import from here, never from one another.
"""
