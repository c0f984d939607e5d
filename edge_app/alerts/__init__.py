"""Alert rules: turn frame results into alerts (quality now; protocol and growth verdicts)."""
