from flexseg.data.samplers import UniformBatchSampler


def take(sampler, n):
    out = []
    while len(out) < n:
        for batch in sampler:
            out.append(batch)
            sampler.update(batch)
            if len(out) == n:
                break
    return out


def test_uniform_sampler_epochs_are_permutations():
    s = UniformBatchSampler(10, 5, seed=3)
    assert len(s) == 2
    a, b = list(s)
    assert sorted(a + b) == list(range(10))


def test_uniform_sampler_resume_continues_the_stream():
    ref = take(UniformBatchSampler(13, 4, seed=1), 9)
    s = UniformBatchSampler(13, 4, seed=1)
    first = take(s, 4)
    state = s.state_dict()
    t = UniformBatchSampler(13, 4, seed=99)
    t.load_state_dict(state)
    assert first + take(t, 5) == ref


def test_uniform_sampler_ranks_slice_the_same_global_batch():
    r0 = list(UniformBatchSampler(16, 2, seed=0, rank=0, world_size=2))
    r1 = list(UniformBatchSampler(16, 2, seed=0, rank=1, world_size=2))
    g = list(UniformBatchSampler(16, 4, seed=0))
    assert [a + b for a, b in zip(r0, r1)] == g
