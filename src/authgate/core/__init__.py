"""The authentication domain: keys, tokens, passwords, users and sessions.

Nothing here imports a web framework or a database driver.
"""
