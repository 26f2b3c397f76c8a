"""Training code for the soundstorm-server models (corpus, codec, semantic tokens, SoundStorm, text-to-semantic).

Run modules with Debian's interpreter from models/training, e.g.
    cd models/training && /usr/bin/python3 -m sstrain.corpus --out ../../data/corpus
"""
