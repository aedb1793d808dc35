from rapport.sqlstore import IN_LIST_CHUNK, in_chunks


def test_in_chunks_cover_every_item_once_in_order_in_bounded_slices() -> None:
    items = list(range(2 * IN_LIST_CHUNK + 7))
    slices = list(in_chunks(items))
    assert [len(s) for s in slices] == [IN_LIST_CHUNK, IN_LIST_CHUNK, 7]
    assert [x for s in slices for x in s] == items
    assert [list(s) for s in in_chunks("abcde", 2)] == [["a", "b"], ["c", "d"], ["e"]]
    assert list(in_chunks([])) == []
