"""The pipeline around the studies: the stage runner, parameter checks across studies, profiles and
the report index. It imports core and the study registry; studies never import it."""
