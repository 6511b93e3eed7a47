"""The paper's figures from finished runs (`finecliper report --figures`, docs/design.md §4): per-class recall
over folds, fixed weights w against the adaptive one, tunable parameters against WAR beside the peers.
Modules: `peers` (the published figures drawn beside ours), `runs` (what each run directory says), `plots`."""
