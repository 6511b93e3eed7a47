"""`finecliper synth`: procedural face videos with dynamic expressions and the exact cues they were drawn from.

`face` draws a face from identity parameters and action-unit controls and gives its 68 landmarks and
parsing map; `expressions` holds the class recipes, the course of an expression over a clip and the
nuisances; `generate` writes a dataset in DFEW's (or MAFW's) layout with an oracle cue store.
"""
