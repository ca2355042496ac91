"""Governance: what partners agreed to amplify. A network's policy decides per partner whether an
amplification goes out by itself, waits for the partner's approver, or never happens; caps, quiet hours
and gaps stagger what goes out."""
