import torch
from torch_geometric.loader import DataLoader

from cxrgraph.graph import LOCATED_AT, ClinicalGraph


def _graphs():
    return [
        ClinicalGraph.from_triplets([("left base", "opacity"), (None, "pneumothorax", "absent")], study_id="a"),
        ClinicalGraph.empty(study_id="b"),
        ClinicalGraph.from_triplets(
            [("right apex", "nodule", "uncertain", "mild"), (None, "edema", "present", "severe", "improved")],
            suggestive_of=[("nodule", "lung cancer")],
            study_id="c",
        ),
    ]


def test_dataloader_batches_graphs_of_different_edge_counts_and_unbatches_exactly():
    graphs = _graphs()
    for g in graphs:
        g["anatomy"].x = torch.randn(29, 8)
    batch = next(iter(DataLoader(graphs, batch_size=3, shuffle=False)))
    assert batch.num_graphs == 3
    assert batch["anatomy"].num_nodes == 87
    assert batch[LOCATED_AT].edge_index.size(1) == sum(g[LOCATED_AT].edge_index.size(1) for g in graphs)
    # edges of graph i point into graph i's node range
    src_batch = batch["finding"].batch[batch[LOCATED_AT].edge_index[0]]
    dst_batch = batch["anatomy"].batch[batch[LOCATED_AT].edge_index[1]]
    assert torch.equal(src_batch, dst_batch)
    assert batch.study_id == ["a", "b", "c"]
    for original, restored in zip(graphs, batch.to_data_list()):
        assert isinstance(restored, ClinicalGraph)
        assert original.equals(restored)
        restored.validate()
