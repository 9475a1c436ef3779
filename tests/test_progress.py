from jaxnas import progress


def test_durations_are_written_for_people():
    assert [progress.duration(s) for s in (4.2, 119, 1000, 7100, 7200, 11_100)] == \
        ["4s", "119s", "17m", "118m", "2h00m", "3h05m"]


def test_time_left_is_the_remaining_work_at_the_pace_so_far():
    assert progress.time_left(done=10, remaining=30, seconds=400) == ", ~20m left"
    assert progress.time_left(done=0, remaining=30, seconds=5) == ""  # no pace yet
    assert progress.time_left(done=40, remaining=0, seconds=500) == ""  # finished
