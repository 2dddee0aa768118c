import { describe, expect, it } from 'vitest';
import {
  TYPED,
  audioErrorField,
  cardOf,
  channelsWords,
  codeParts,
  formToSettings,
  mixerChoices,
  noCardWords,
  openedWords,
  playedWords,
  sameAudio,
  ratesWords,
  settingsToForm,
  speakerTone,
  speakerWords,
  type HwCaps,
  type SoundCard,
} from '../src/lib/audio';

const caps: HwCaps = {
  formats: ['S16_LE', 'S24_3LE'],
  rate_min: 44100,
  rate_max: 96000,
  rates: [44100, 48000, 96000],
  channels_min: 2,
  channels_max: 2,
  period_min: 64,
  period_max: 8192,
  buffer_min: 128,
  buffer_max: 16384,
};

const dac: SoundCard = {
  index: 1,
  id: 'Dac',
  name: 'USB Audio DAC',
  long_name: 'Generic USB Audio DAC at usb-1.2',
  driver: 'USB-Audio',
  devices: [{ device: 0, id: 'USB Audio', name: 'USB Audio', pcm: 'hw:CARD=Dac,DEV=0', subdevices: 1, caps, error: null }],
  mixers: [{ name: 'PCM', index: 0, volume_min: 0, volume_max: 255, db_min: -10240, db_max: 400, has_switch: true, volume: 200, db: -600 }],
  error: null,
};

describe('the speaker in words', () => {
  it('every state is a sentence', () => {
    expect(speakerWords(null)).toBe('Off: the box does not play out loud.');
    expect(speakerWords({ state: 'no_device_configured' })).toContain('Off');
    expect(speakerWords({ state: 'idle' })).toContain('Nothing to play');
    expect(speakerWords({ state: 'waiting_for_device', reason: 'no such device' })).toBe(
      'Waiting for the device: no such device. The box keeps trying every few seconds; plug it in or check its name.',
    );
    expect(speakerWords({ state: 'error', message: 'busy.' })).toMatch(/^The output cannot be used: busy\. /);
    expect(speakerTone({ state: 'playing' })).toBe('ok');
    expect(speakerTone({ state: 'waiting_for_device', reason: 'x' })).toBe('warn');
    expect(speakerTone(null)).toBe('off');
  });

  it('what was opened, and time played', () => {
    expect(
      openedWords({
        pcm: 'hw:CARD=Dac,DEV=0',
        params: { rate: 48000, format: 'S16_LE', channels: 2, period_frames: 960, buffer_frames: 3840 },
        volume: { kind: 'software' },
      }),
    ).toBe('hw:CARD=Dac,DEV=0 · 48 kHz · S16_LE · stereo · 960-frame periods of a 3840-frame buffer');
    expect(playedWords(48000 * 125, 48000)).toBe('2 min 5 s');
    expect(playedWords(48000 * 3700, 48000)).toBe('1 h 1 min');
    expect(playedWords(0, 48000)).toBeNull();
  });
});

describe('what an output can do', () => {
  it('rates, channels, mixers', () => {
    expect(ratesWords(caps)).toBe('44.1, 48, 96 kHz');
    expect(ratesWords({ ...caps, rates: [], rate_min: 8000, rate_max: 192000 })).toBe('8–192 kHz');
    expect(channelsWords(caps)).toBe('stereo');
    expect(channelsWords({ ...caps, channels_min: 1, channels_max: 8 })).toBe('1–8 channels');
    const choices = mixerChoices(dac, 'auto');
    expect(choices.map((c) => c.value)).toEqual(['auto', 'software', 'el:PCM']);
    expect(choices[2].label).toBe('The card\'s “PCM” control (−102.4 dB to 4 dB)');
    expect(mixerChoices(null, 'el:Digital').map((c) => c.value)).toEqual(['auto', 'software', 'el:Digital']);
  });

  it('finds the card of an output, listed or typed', () => {
    expect(cardOf([dac], 'hw:CARD=Dac,DEV=0')?.id).toBe('Dac');
    expect(cardOf([dac], 'plughw:CARD=Dac,DEV=1')?.id).toBe('Dac');
    expect(cardOf([dac], 'hw:CARD=Other,DEV=0')).toBeNull();
    expect(cardOf([dac], null)).toBeNull();
  });
});

describe('the settings form', () => {
  it('round-trips a found output, a typed one and none', () => {
    const found = { enabled: true, device: 'hw:CARD=Dac,DEV=0', mixer: 'PCM', volume: 55, room_id: '12' };
    const f = settingsToForm(found, [dac]);
    expect(f).toEqual({ enabled: true, output: 'hw:CARD=Dac,DEV=0', typed: '', mixer: 'el:PCM', volume: 55, room: '12' });
    expect(formToSettings(f)).toEqual(found);

    const typed = { enabled: true, device: 'hw:CARD=Dac,DEV=0', mixer: 'software', volume: 70, room_id: null };
    const t = settingsToForm(typed, []);
    expect(t.output).toBe(TYPED);
    expect(t.typed).toBe('hw:CARD=Dac,DEV=0');
    expect(formToSettings(t)).toEqual(typed);

    const none = { enabled: false, device: null, mixer: null, volume: 70, room_id: null };
    expect(formToSettings(settingsToForm(none, [dac]))).toEqual(none);
    expect(formToSettings({ ...t, typed: '   ', volume: 180 })).toMatchObject({ device: null, volume: 100 });
    // The box answers with its keys in another order.
    expect(sameAudio({ volume: 70, room_id: null, mixer: 'software', enabled: true, device: 'hw:CARD=Dac,DEV=0' }, typed)).toBe(true);
    expect(sameAudio({ ...typed, volume: 71 }, typed)).toBe(false);
  });

  it('places refusals next to their field', () => {
    expect(audioErrorField('no_audio_device', 'Choose the output first.')).toEqual({ field: 'output', words: 'Choose the output first.' });
    expect(audioErrorField('not_voice_channel', 'x is not a voice room')).toEqual({ field: 'room', words: 'x is not a voice room' });
    expect(audioErrorField('bad_audio_settings', 'speaker.device: "a b" is not an ALSA device name')).toEqual({
      field: 'output',
      words: '"a b" is not an ALSA device name',
    });
    expect(audioErrorField('bad_audio_settings', 'speaker.mixer: "" is not a mixer element name').field).toBe('mixer');
    expect(audioErrorField('bad_json', 'unknown field').field).toBe('general');
  });
});

describe('the report', () => {
  it('marks code spans as text parts', () => {
    expect(codeParts('needs `dtparam=audio=on` in config.txt')).toEqual([
      { code: false, text: 'needs ' },
      { code: true, text: 'dtparam=audio=on' },
      { code: false, text: ' in config.txt' },
    ]);
  });

  it('no card: the first line is the headline', () => {
    const w = noCardWords('no sound card found: ALSA lists no cards.\nOn a Pi the onboard audio\n needs this.\n');
    expect(w.headline).toBe('No sound card found: ALSA lists no cards.');
    expect(w.detail).toBe('On a Pi the onboard audio needs this.');
  });
});
