"""What a routes-file entry may say: plain, frozen option models with no behaviour.

They sit low in the package so that the route table can hold an entry's options without
importing what serves them: the choosers and policies (gateway.behaviours) import their models
from here, never the other way round.
"""
