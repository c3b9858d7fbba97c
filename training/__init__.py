"""Training and measuring: the reader, the LM adapter, SQuAD metrics and the evaluation commands.
Never imported by the serving path."""
