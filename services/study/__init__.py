"""Study: the ledger's rules, its hot state in Redis and Lua scripts, the study pages' views."""
