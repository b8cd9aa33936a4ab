"""Campaigns: time-boxed earn boosts configured by group admins.

- :mod:`gateway.campaigns.model`: what a campaign is, and the validation of an admin's input.
- :mod:`gateway.campaigns.store`: reading campaigns through the config cache; creating, updating
  and ending them, audited.
- :mod:`gateway.campaigns.rules`: pure rules: whether an activity is in a campaign's scope, what
  the campaign would add, and how campaigns stack.
- :mod:`gateway.campaigns.awards`: the campaign part of an earn: budgets and per-member limits
  read (and locked) in the earn's transaction, lines and lots added to the earn plan, counters
  moved. The real earn and ``previewEarn`` both plan through it.
"""
