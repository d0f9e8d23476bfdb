def summarize_run(profile, s):
    return None
