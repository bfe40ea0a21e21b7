"""Access policy (pure): who a credential is, and what it may do.

identity.py     certificate -> user, and whether the certificate is accepted
decide.py       credential + SSH username + repository + command -> Decision
permissions.py  membership facts -> a user's permission on a repository
facts.py        the frozen facts the transport fills from the database
decision.py     Decision and its reason codes
messages.py     the one-line texts users read
"""
