"""`deployer render`: every release of a fleet rendered offline as deploy would, then checked."""
