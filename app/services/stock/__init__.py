"""Stock: the ledger of on-hand units, holds on them, owner changes, license keys, the sweeper."""
