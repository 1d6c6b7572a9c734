"""Conversion into a BertModel: every key matched, values preserved, output usable by transformers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from csbot.models.e5_convert import bert_config, build_bert, key_map
from csbot.models.e5_file import E5File, E5FormatError, E5Header
from tests.csbot.models.e5s1_writer import write_e5s1


def test_key_map_matches_bert_state_dict_exactly() -> None:
    from transformers import BertModel

    header = E5Header(1, 384, 12, 12, 1536, 250037, 512, 2, 1e-12, 32)
    with torch.device("meta"):
        model = BertModel(bert_config(header), add_pooling_layer=False)
    assert set(key_map(12).values()) == set(model.state_dict())
    assert len(key_map(12)) == len(model.state_dict())


def test_build_bert_preserves_every_tensor(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    expected = write_e5s1(path, hidden=32, layers=2, heads=2, ff=64, vocab=96, max_pos=16)
    model = build_bert(path)
    state = model.state_dict()
    for name, key in key_map(2).items():
        np.testing.assert_allclose(state[key].numpy(), expected[name], atol=1e-6, err_msg=name)
    assert model.config.hidden_size == 32 and model.config.intermediate_size == 64
    assert model.pooler is None


def test_converted_model_round_trips_through_save_pretrained(tmp_path: Path) -> None:
    from transformers import AutoModel

    path = tmp_path / "m.bin"
    write_e5s1(path, hidden=32, layers=2, heads=2, ff=64, vocab=96, max_pos=16)
    model = build_bert(path)
    model.save_pretrained(tmp_path / "out")
    loaded = AutoModel.from_pretrained(tmp_path / "out", add_pooling_layer=False).eval()
    ids = torch.tensor([[0, 5, 17, 2]])
    with torch.inference_mode():
        a = model(input_ids=ids).last_hidden_state
        b = loaded(input_ids=ids).last_hidden_state
    assert a.shape == (1, 4, 32)
    torch.testing.assert_close(a, b)


def test_unexpected_tensor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    write_e5s1(path, layers=2)
    with E5File(path) as e5:
        e5.tensors["l9.q.w"] = e5.tensors["l0.q.w"]
        with pytest.raises(E5FormatError, match="unexpected tensors"):
            from csbot.models.e5_convert import iter_state_dict

            list(iter_state_dict(e5))
