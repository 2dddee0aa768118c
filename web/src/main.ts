import { mount } from 'svelte';
import App from './App.svelte';
import { applyTheme, getTheme } from './lib/theme';
import './app.css';

applyTheme(getTheme());
mount(App, { target: document.getElementById('app')! });
