"""CrossWOZ dialogue state tracking from text: a lexicon from the domain databases plus rules."""
