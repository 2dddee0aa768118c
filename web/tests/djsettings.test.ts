import { describe, expect, it } from 'vitest';
import { djErrorField, djToForm, formToDj, minutesToMs, msToMinutes, sameDj, votesNeeded, type DjSettings } from '../src/lib/djsettings';

const defaults: DjSettings = {
  config: {
    vote_ratio: 0.5,
    max_queue: 500,
    per_user_limit: 25,
    max_track_ms: 3 * 3600 * 1000,
    leave_empty_after_ms: 60_000,
    history_len: 50,
    search_results: 5,
    search_expiry_ms: 300_000,
    resolve_timeout_ms: 120_000,
    max_playlists: 100,
    playlist_len: 500,
    prefix: '!',
    track_schemes: ['library'],
  },
  command_channels: [],
};

describe('DJ settings form', () => {
  it('shows people units and round-trips unchanged', () => {
    const f = djToForm(defaults);
    expect(f.votePercent).toBe('50');
    expect(f.maxTrackMinutes).toBe('180');
    expect(f.leaveAfterSeconds).toBe('60');
    expect(f.noTrackLimit).toBe(false);
    const back = formToDj(f, defaults);
    expect('settings' in back && back.settings).toEqual(defaults);
  });

  it('converts minutes, seconds and percent; keeps what it does not show', () => {
    const base = { ...defaults, config: { ...defaults.config, track_schemes: ['library', 'radio'], search_expiry_ms: 1234 } };
    const f = { ...djToForm(base), votePercent: '75', perUserLimit: '0', maxTrackMinutes: '7.5', leaveAfterSeconds: '30', commandChannels: ['9'] };
    const r = formToDj(f, base);
    if (!('settings' in r)) throw new Error('refused');
    expect(r.settings.config).toMatchObject({ vote_ratio: 0.75, per_user_limit: 0, max_track_ms: 450_000, leave_empty_after_ms: 30_000 });
    expect(r.settings.config.track_schemes).toEqual(['library', 'radio']);
    expect(r.settings.config.search_expiry_ms).toBe(1234);
    expect(r.settings.command_channels).toEqual(['9']);
    const none = formToDj({ ...f, noTrackLimit: true, maxTrackMinutes: 'anything' }, base);
    expect('settings' in none && none.settings.config.max_track_ms).toBeNull();
    expect(msToMinutes(90_000)).toBe(1.5);
    expect(minutesToMs(2)).toBe(120_000);
  });

  it('refuses what is not a number, by field', () => {
    const r = formToDj({ ...djToForm(defaults), maxQueue: 'lots', perUserLimit: '-1', historyLen: '2.5', prefix: '' }, defaults);
    expect('errors' in r && r.errors).toEqual({
      maxQueue: 'Enter a whole number, 0 or more.',
      perUserLimit: 'Enter a whole number, 0 or more.',
      historyLen: 'Enter a whole number.',
      prefix: 'Enter one character, such as ! or .',
    });
  });

  it("places the box's refusal next to the field it names", () => {
    expect(djErrorField('dj.search_results: must be from 1 to 25')).toEqual({ field: 'searchResults', words: 'Must be from 1 to 25.' });
    expect(djErrorField('dj.vote_ratio: must be above 0 and at most 1').field).toBe('votePercent');
    expect(djErrorField('dj.vote_ratio: must be above 0 and at most 1').words).toContain('%');
    expect(djErrorField('dj.command_channels: #x is not a text channel.')).toEqual({
      field: 'commandChannels',
      words: '#x is not a text channel.',
    });
    expect(djErrorField('something else')).toEqual({ field: 'general', words: 'something else' });
    expect(djErrorField('dj.track_schemes: bad').field).toBe('general');
  });

  it('votes and sameness', () => {
    expect(votesNeeded(0.5, 5)).toBe(3);
    expect(votesNeeded(0.5, 4)).toBe(2);
    expect(votesNeeded(0.01, 3)).toBe(1);
    expect(votesNeeded(1, 6)).toBe(6);
    expect(sameDj(defaults, { ...defaults, command_channels: [] })).toBe(true);
    expect(sameDj(defaults, { ...defaults, command_channels: ['1'] })).toBe(false);
    // The box sends its keys sorted.
    const sorted = { command_channels: ['2', '1'], config: Object.fromEntries(Object.entries(defaults.config).sort()) } as unknown as DjSettings;
    expect(sameDj(sorted, { config: defaults.config, command_channels: ['1', '2'] })).toBe(true);
  });
});
