"""`finecliper serve`: a local web page (Gradio, the optional extra `serve`) on which a user drops a clip and
sees what `finecliper explain` shows (docs/design.md §8). Modules: `uploads` (what an uploaded file may be),
`page` (the analysis of one upload and the Gradio page around it)."""
