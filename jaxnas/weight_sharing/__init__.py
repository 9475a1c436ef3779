"""Weight sharing: networks whose weights all architectures of a cell space share, and
the methods that train them.

``nb201_network`` and ``darts_network`` (with their ``layers``) are the NB201 and DARTS
image networks, as a supernet that runs only the sampled ops and as the standalone
network of one architecture; ``supernet`` trains the NB201 supernet by single-path
uniform sampling and evaluates every cell with inherited weights (AceNAS's weak labels);
``parsec`` is PARSEC's prior, importance-weighted estimator and train step;
``input_pipeline`` loads, splits, augments and batches the images.
"""
