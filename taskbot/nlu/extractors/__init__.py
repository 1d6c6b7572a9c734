"""One slot extractor per value shape; `taskbot.nlu.slots` chooses and combines them."""
